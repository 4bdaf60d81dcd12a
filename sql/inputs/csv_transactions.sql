-- Input view input_transactions over the CSV file named by the variable transactions_path (set by
-- data.py with a bind parameter), read with its types declared: a bad value stops the build and
-- data.py then locates it by line.
-- reads: none
-- writes: input_transactions
-- params: none
CREATE OR REPLACE TEMP VIEW input_transactions AS
SELECT * FROM read_csv(getvariable('transactions_path'), header = true, auto_detect = false, delim = ',',
                       quote = '"', escape = '"',
                       columns = {'t_dat': 'DATE', 'customer_id': 'VARCHAR', 'article_id': 'INTEGER',
                                  'price': 'DOUBLE', 'sales_channel_id': 'TINYINT'});
