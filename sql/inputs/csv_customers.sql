-- Input view input_customers over the CSV file named by the variable customers_path (set by data.py
-- with a bind parameter): every column as text, exactly as the competition's file has it.
-- reads: none
-- writes: input_customers
-- params: none
CREATE OR REPLACE TEMP VIEW input_customers AS
SELECT * FROM read_csv(getvariable('customers_path'), header = true, all_varchar = true, delim = ',',
                       quote = '"', escape = '"');
