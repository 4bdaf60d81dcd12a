-- Input view input_customers over the Parquet file named by the variable customers_path (set by data.py
-- with a bind parameter): every column as text, as from the CSV file (an integer article_id
-- becomes '108775015', which step 01 casts to the same INTEGER as '0108775015').
-- reads: none
-- writes: input_customers
-- params: none
CREATE OR REPLACE TEMP VIEW input_customers AS
SELECT COLUMNS(*)::VARCHAR FROM read_parquet(getvariable('customers_path'));
