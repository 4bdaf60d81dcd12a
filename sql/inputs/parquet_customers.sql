-- Input view input_customers over the Parquet file named by the variable customers_path (set by data.py
-- with a bind parameter): every column as text, as from the CSV file (a number such as age becomes
-- its text, which step 02 casts as it casts the CSV's).
-- reads: none
-- writes: input_customers
-- params: none
CREATE OR REPLACE TEMP VIEW input_customers AS
SELECT COLUMNS(*)::VARCHAR FROM read_parquet(getvariable('customers_path'));
