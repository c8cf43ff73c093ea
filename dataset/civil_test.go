package dataset

import (
	"testing"
	"time"
)

// TestMkTimeMatchesDate: mkTime is time.Date in UTC for every valid date
// of years 0..9999 (a sample of times of day) and refuses invalid ones.
func TestMkTimeMatchesDate(t *testing.T) {
	for y := 0; y <= 9999; y++ {
		for m := 1; m <= 12; m++ {
			for d := 1; d <= daysIn(y, m); d++ {
				h, mi, s := (y+d)%24, (m*7+d)%60, (y*3+m)%60
				got, ok := mkTime(y, m, d, h, mi, s)
				want := time.Date(y, time.Month(m), d, h, mi, s, 0, time.UTC)
				if !ok || got != want {
					t.Fatalf("mkTime(%d, %d, %d, %d, %d, %d) = %v, %v; want %v", y, m, d, h, mi, s, got, ok, want)
				}
			}
		}
	}
	for _, bad := range [][6]int{{2021, 2, 29, 0, 0, 0}, {2020, 13, 1, 0, 0, 0}, {2020, 4, 31, 0, 0, 0}, {2020, 1, 1, 24, 0, 0}, {2020, 1, 0, 0, 0, 0}} {
		if _, ok := mkTime(bad[0], bad[1], bad[2], bad[3], bad[4], bad[5]); ok {
			t.Errorf("mkTime%v accepted", bad)
		}
	}
}
