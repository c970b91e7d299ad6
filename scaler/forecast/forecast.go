// Package forecast holds the load forecasters the predictive policies use:
// Holt-Winters / exponential smoothing, ARIMA, an LSTM, and the naive,
// seasonal-naive and linear baselines, behind one interface, plus an
// automatic choice by rolling-origin back-test, and the accuracy measures
// (MAE, sMAPE, MASE) with a rolling-origin evaluation.
//
// Pure: no I/O, no clocks, no global randomness (a model that needs random
// initialisation takes a seed). See DESIGN.md beside this file.
package forecast

import (
	"errors"
	"fmt"
	"sort"
)

// ErrTooShort is returned by Fit when the series is too short for the model.
var ErrTooShort = errors.New("forecast: series too short")

// ErrUnknownModel is returned by Get for a name that is not registered.
var ErrUnknownModel = errors.New("forecast: unknown model")

// ErrBadInput is returned for a series holding NaN or ±Inf, or for invalid
// evaluation settings.
var ErrBadInput = errors.New("forecast: bad input")

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

// Model names accepted by Get.
const (
	NameNaive         = "naive"
	NameSeasonalNaive = "seasonal-naive"
	NameLinear        = "linear"
	NameHoltWinters   = "holt-winters"
	NameARIMA         = "arima"
	NameLSTM          = "lstm"
	NameAuto          = "auto"
)

var registry = map[string]func() Forecaster{
	NameNaive:         func() Forecaster { return Naive{} },
	NameSeasonalNaive: func() Forecaster { return SeasonalNaive{} },
	NameLinear:        func() Forecaster { return Linear{} },
	NameHoltWinters:   func() Forecaster { return HoltWinters{} },
	NameARIMA:         func() Forecaster { return ARIMA{} },
	NameLSTM:          func() Forecaster { return LSTM{} },
	NameAuto:          func() Forecaster { return Auto{} },
}

// Get returns the forecaster registered under name with its default
// settings, or an error wrapping ErrUnknownModel.
func Get(name string) (Forecaster, error) {
	mk, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknownModel, name, Names())
	}
	return mk(), nil
}

// Names lists the registered model names, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Describer is implemented by every fitted Model of this package: a short
// text naming the fitted model and its parameters, for a decision's reason
// (e.g. "ETS(A,Ad,A) m=24 alpha=0.41 beta=0.01 gamma=0.12 phi=0.94").
type Describer interface {
	Describe() string
}
