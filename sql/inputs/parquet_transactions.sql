-- Input view input_transactions over the Parquet file named by the variable transactions_path (set
-- by data.py with a bind parameter), cast to the types of the CSV reader: t_dat as a DATE, text or
-- timestamp; article_id as text with its leading zero or as an integer.
-- reads: none
-- writes: input_transactions
-- params: none
CREATE OR REPLACE TEMP VIEW input_transactions AS
SELECT CAST(t_dat AS DATE) AS t_dat, CAST(customer_id AS VARCHAR) AS customer_id,
       CAST(article_id AS INTEGER) AS article_id, CAST(price AS DOUBLE) AS price,
       CAST(sales_channel_id AS TINYINT) AS sales_channel_id
FROM read_parquet(getvariable('transactions_path'));
