package dataset

import (
	"fmt"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// pqKind says how the values of a Parquet column convert.
type pqKind uint8

const (
	pqUnsupported  pqKind = iota
	pqText                // BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY: the CSV text rules
	pqInt                 // INT32, INT64 without a date, time or decimal annotation
	pqFloat               // FLOAT, DOUBLE
	pqDecimal             // INT32, INT64 DECIMAL: unscaled / 10^scale
	pqDecimalBytes        // BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY DECIMAL (big-endian)
	pqDate                // INT32 DATE: days since 1970-01-01
	pqTimestamp           // INT64 TIMESTAMP: units since 1970-01-01T00:00:00
	pqInt96               // legacy INT96 timestamp (Impala, Spark)
)

// Parquet column roles, as named in errors.
const (
	roleCustomer = "customer"
	roleTime     = "time"
	roleAmount   = "amount"
	roleQuantity = "quantity"
	rolePrice    = "price"
	roleInvoice  = "invoice"
)

// pqAllowed lists the kinds each role accepts and how an error says so.
var pqAllowed = map[string]struct {
	kinds []pqKind
	want  string
}{
	roleCustomer: {[]pqKind{pqText, pqInt, pqFloat}, "a string, integer or float"},
	roleTime:     {[]pqKind{pqText, pqInt, pqFloat, pqDate, pqTimestamp, pqInt96}, "a date, timestamp, number or string"},
	roleAmount:   {[]pqKind{pqText, pqInt, pqFloat, pqDecimal, pqDecimalBytes}, "an integer, float, double, decimal or string"},
	roleInvoice:  {[]pqKind{pqText, pqInt}, "a string or integer"},
}

// pqCol is one mapped column of a Parquet file.
type pqCol struct {
	role  string
	name  string
	leaf  int // column index in a row group
	kind  pqKind
	scale int32         // decimal scale
	unit  time.Duration // timestamp unit
}

// classify finds how the values of a column of type t convert.
func classify(t parquet.Type) (kind pqKind, scale int32, unit time.Duration) {
	k := t.Kind()
	if lt := t.LogicalType(); lt != nil && lt.Value != nil {
		switch v := lt.Value.(type) {
		case *format.DateType:
			return pick(k == parquet.Int32, pqDate), 0, 0
		case *format.TimestampType:
			return pick(k == parquet.Int64 && v.Unit.Value != nil, pqTimestamp), 0, unitOf(v)
		case *format.DecimalType:
			if k == parquet.Int32 || k == parquet.Int64 {
				return pqDecimal, v.Scale, 0
			}
			return pick(k == parquet.ByteArray || k == parquet.FixedLenByteArray, pqDecimalBytes), v.Scale, 0
		case *format.StringType, *format.EnumType, *format.IntType:
		default:
			return pqUnsupported, 0, 0
		}
	} else if ct := t.ConvertedType(); ct != nil {
		switch *ct {
		case deprecated.Date:
			return pick(k == parquet.Int32, pqDate), 0, 0
		case deprecated.TimestampMillis, deprecated.TimestampMicros:
			u := map[bool]time.Duration{true: time.Millisecond, false: time.Microsecond}[*ct == deprecated.TimestampMillis]
			return pick(k == parquet.Int64, pqTimestamp), 0, u
		case deprecated.Decimal:
			return pqUnsupported, 0, 0 // the scale is not at hand
		}
	}
	return physicalKind(k), 0, 0
}

func unitOf(t *format.TimestampType) time.Duration {
	if t.Unit.Value == nil {
		return 0
	}
	return t.Unit.Value.Duration()
}

func pick(ok bool, k pqKind) pqKind {
	if ok {
		return k
	}
	return pqUnsupported
}

func physicalKind(k parquet.Kind) pqKind {
	switch k {
	case parquet.Int32, parquet.Int64:
		return pqInt
	case parquet.Float, parquet.Double:
		return pqFloat
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return pqText
	case parquet.Int96:
		return pqInt96
	}
	return pqUnsupported
}

// mapParquetColumns resolves opts.CSV against the top-level columns of f
// and checks their types. Errors name the file and the columns, never
// values.
func mapParquetColumns(f *parquet.File, opts Options) ([]pqCol, mappedColumns, error) {
	top := f.Root().Columns()
	names := make([]string, len(top))
	for i, c := range top {
		names[i] = c.Name()
	}
	bad := func(format string, a ...any) error {
		return &Error{File: opts.Name, Err: ErrBadHeader, Msg: fmt.Sprintf(format, a...) +
			fmt.Sprintf(" in Parquet columns %s", quoteStrings(names))}
	}
	m, err := mapColumns(names, opts.CSV, bad)
	if err != nil {
		return nil, m, err
	}
	var cols []pqCol
	for _, r := range []struct {
		role string
		i    int
	}{{roleCustomer, m.customer}, {roleTime, m.time}, {roleAmount, m.amount}, {roleQuantity, m.quantity}, {rolePrice, m.price}, {roleInvoice, m.invoice}} {
		if r.i < 0 {
			continue
		}
		c, err := checkParquetColumn(top[r.i], r.role, bad)
		if err != nil {
			return nil, m, err
		}
		cols = append(cols, c)
	}
	return cols, m, nil
}

// checkParquetColumn checks that c is a flat column of a type role accepts.
func checkParquetColumn(c *parquet.Column, role string, bad func(format string, a ...any) error) (pqCol, error) {
	if !c.Leaf() || c.Repeated() || c.Index() < 0 {
		return pqCol{}, bad("%s column %q is not a flat (non-repeated, non-nested) column", role, c.Name())
	}
	kind, scale, unit := classify(c.Type())
	allowed := pqAllowed[role]
	if role == roleQuantity || role == rolePrice {
		allowed = pqAllowed[roleAmount]
	}
	for _, k := range allowed.kinds {
		if k == kind && kind != pqUnsupported {
			return pqCol{role: role, name: c.Name(), leaf: c.Index(), kind: kind, scale: scale, unit: unit}, nil
		}
	}
	return pqCol{}, bad("%s column %q has Parquet type %s, want %s", role, c.Name(), c.Type(), allowed.want)
}
