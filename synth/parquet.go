package synth

import (
	"io"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
)

// parquetRow is one row of the Parquet log.
type parquetRow struct {
	CustomerID string  `parquet:"customer_id"`
	TS         int32   `parquet:"ts,date"` // days since 1970-01-01
	Amount     float64 `parquet:"amount"`
}

// ParquetRowGroupRows is the number of rows per row group of WriteParquet.
const ParquetRowGroupRows = 1 << 17

// WriteParquet writes the log as Parquet with the columns customer_id
// (string), ts (DATE) and amount (DOUBLE, cents / 100: the float64 that
// the CSV text of WriteCSV parses to), Snappy-compressed, rows in the order
// of WriteCSV, in row groups of ParquetRowGroupRows rows.
func (l *Log) WriteParquet(w io.Writer) error {
	pw := parquet.NewGenericWriter[parquetRow](w, parquet.Compression(&snappy.Codec{}),
		parquet.MaxRowsPerRowGroup(ParquetRowGroupRows))
	rows := make([]parquetRow, 0, 4096)
	startDay := int32(l.Params.Start.Unix() / 86400)
	for d, day := range l.byDay {
		for _, p := range day {
			rows = append(rows, parquetRow{CustomerID: strconv.Itoa(int(p.customer)), TS: startDay + int32(d), Amount: float64(p.cents) / 100})
			if len(rows) == cap(rows) {
				if _, err := pw.Write(rows); err != nil {
					return err
				}
				rows = rows[:0]
			}
		}
	}
	if _, err := pw.Write(rows); err != nil {
		return err
	}
	return pw.Close()
}
