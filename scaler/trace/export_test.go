package trace

// Sum is sum for the external tests (package trace_test).
var Sum = sum
