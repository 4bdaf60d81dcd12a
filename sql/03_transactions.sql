-- Step 3: transactions_train (view input_transactions) -> transactions (typed; customer_id replaced
-- by customer_idx).
-- The file is read with its types declared (a bad value stops the build and is then located by
-- line). Rows naming an article or a customer missing from the catalogue are counted in
-- load_report and deleted.
-- reads: input_transactions, customers, articles
-- writes: transactions, load_report
-- params: none
CREATE TABLE transactions AS
SELECT s.t_dat, c.customer_idx, s.article_id, s.price, s.sales_channel_id AS channel
FROM input_transactions s
LEFT JOIN customers c ON c.customer_id = s.customer_id;

CREATE TABLE load_report AS
SELECT
    count(*) AS rows_read,
    count(*) FILTER (WHERE customer_idx IS NULL) AS unknown_customer_rows,
    count(*) FILTER (WHERE article_id NOT IN (SELECT article_id FROM articles)) AS unknown_article_rows,
    count(*) FILTER (WHERE t_dat IS NULL OR article_id IS NULL OR price IS NULL OR channel IS NULL)
        AS empty_value_rows
FROM transactions;

DELETE FROM transactions
WHERE customer_idx IS NULL OR article_id NOT IN (SELECT article_id FROM articles);
