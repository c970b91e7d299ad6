// Package forecast holds the load forecasters the predictive policies use:
// Holt-Winters / exponential smoothing, ARIMA, an LSTM, and the seasonal-naive
// and linear baselines, behind one interface, plus an automatic choice by
// rolling-origin back-test.
//
// Pure: no I/O, no clocks, no global randomness (a model that needs random
// initialisation takes a seed).
package forecast

import "errors"

// ErrTooShort is returned by Fit when the series is too short for the model.
var ErrTooShort = errors.New("forecast: series too short")

// Forecast is an h-step-ahead prediction with an uncertainty band.
// All slices have length h; Lower/Upper bound a ~95% interval.
type Forecast struct {
	Mean  []float64 `json:"mean"`
	Lower []float64 `json:"lower"`
	Upper []float64 `json:"upper"`
}

// Model is a fitted forecaster.
type Model interface {
	// Forecast predicts the next h observations after the fitted series.
	Forecast(h int) Forecast
}

// Forecaster fits a Model to an equally spaced series y.
// season is the seasonal period in steps (0 = unknown: detect or ignore).
type Forecaster interface {
	Name() string
	Fit(y []float64, season int) (Model, error)
}
