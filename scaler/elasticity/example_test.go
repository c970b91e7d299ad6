package elasticity_test

import (
	"fmt"

	"aas/scaler/elasticity"
)

func ExampleCompute() {
	// BUNGEE's example: demand and supply in instances, t in ms, end 20.
	demand := []elasticity.Sample{{0, 1}, {7, 5}, {16, 3}, {17, 2}, {19, 4}, {20, 4}}
	supply := []elasticity.Sample{{0, 1}, {2, 2}, {3, 1}, {5, 3}, {9, 7}, {11, 6}, {12, 8}, {14, 2}, {20, 2}}
	m := elasticity.Compute(demand, supply, 20)
	fmt.Printf("accuracy_U %.2f accuracy_O %.2f timeshare_U %.0f%% timeshare_O %.0f%%\n",
		m.AccuracyU, m.AccuracyO, m.TauU, m.TauO)
	fixed := elasticity.Compute(demand, []elasticity.Sample{{0, 3}}, 20)
	fmt.Printf("elastic speedup vs a fixed 3: %.2f\n", elasticity.Speedup(m, fixed))
	// Output:
	// accuracy_U 0.65 accuracy_O 0.80 timeshare_U 30% timeshare_O 40%
	// elastic speedup vs a fixed 3: 1.52
}
