package forecast

type LSTM struct{}

func (LSTM) Name() string                              { return NameLSTM }
func (LSTM) Fit(y []float64, season int) (Model, error) { return nil, ErrTooShort }

type Auto struct{}

func (Auto) Name() string                              { return NameAuto }
func (Auto) Fit(y []float64, season int) (Model, error) { return nil, ErrTooShort }
