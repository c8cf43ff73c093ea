package scoring

import (
	"bytes"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// Row is one customer in a scores Parquet file.
type Row struct {
	CustomerID          string  `parquet:"customer_id"`
	ExpectedValue       float64 `parquet:"expected_value"`
	PurchaseProbability float64 `parquet:"purchase_probability"`
	// ProbabilityAlive is set where the model gives one (the networks do
	// not: it stays null).
	ProbabilityAlive *float64 `parquet:"probability_alive,optional"`
	Decile           int32    `parquet:"decile"`
	Segment          string   `parquet:"segment"`
	ModelVersion     string   `parquet:"model_version"`
}

// WriteParquet writes ranked predictions of one model version.
func WriteParquet(w io.Writer, preds []Prediction, version string) error {
	pw := parquet.NewGenericWriter[Row](w)
	rows := make([]Row, 0, 4096)
	flush := func() error {
		_, err := pw.Write(rows)
		rows = rows[:0]
		return err
	}
	for _, p := range preds {
		rows = append(rows, Row{CustomerID: p.CustomerID, ExpectedValue: p.ExpectedValue, PurchaseProbability: p.PurchaseProbability,
			Decile: int32(p.Decile), Segment: p.Segment, ModelVersion: version})
		if len(rows) == cap(rows) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return pw.Close()
}

// ReadParquet reads a scores Parquet file back.
func ReadParquet(b []byte) ([]Row, error) {
	rows, err := parquet.Read[Row](bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("scores parquet: %w", err)
	}
	return rows, nil
}
