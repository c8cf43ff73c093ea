package dataset_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/clvflow/clvflow/dataset"
)

func ExampleRead() {
	in := "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n" +
		"536365,85123A,HEART,6,2010-12-01 08:26:00,2.5,17850.0,United Kingdom\n" +
		"C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United Kingdom\n" +
		"536414,22139,,56,2010-12-01 11:52:00,0,,United Kingdom\n" +
		"536415,22139,TIN,2,2010-12-01 12:00:00,1.25,14527,United Kingdom\n"
	var quarantine bytes.Buffer
	rep, err := dataset.Read(strings.NewReader(in), dataset.Options{Name: "retail.csv", Quarantine: &quarantine},
		func(tx dataset.Transaction) error {
			fmt.Println(tx.Customer, tx.Time.Format("2006-01-02 15:04"), tx.Amount)
			return nil
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Format, rep.RowsRead, rep.Accepted, rep.Rejected, rep.Rules)
	fmt.Print(quarantine.String())
	// Output:
	// 17850 2010-12-01 08:26 15
	// 14527 2010-12-01 12:00 2.5
	// online-retail 4 2 2 map[cancellation:1 missing_customer:1]
	// line,rule,raw
	// 3,cancellation,"C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United Kingdom"
	// 4,missing_customer,"536414,22139,,56,2010-12-01 11:52:00,0,,United Kingdom"
}
