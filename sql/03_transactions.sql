-- Step 3: transactions_train.csv -> transactions (typed; customer_id replaced by customer_idx).
-- Rows naming an article or a customer missing from the catalogue are counted in load_report and
-- skipped.
CREATE TABLE staged_transactions AS
SELECT
    CAST(s.t_dat AS DATE) AS t_dat,
    c.customer_idx,
    CAST(s.article_id AS INTEGER) AS article_id,
    CAST(s.price AS DOUBLE) AS price,
    CAST(s.sales_channel_id AS TINYINT) AS channel
FROM read_csv($transactions_csv, header = true, all_varchar = true, delim = ',', quote = '"',
              escape = '"') s
LEFT JOIN customers c ON c.customer_id = s.customer_id;

CREATE TABLE load_report AS
SELECT
    count(*) AS rows_read,
    count(*) FILTER (WHERE customer_idx IS NULL) AS unknown_customer_rows,
    count(*) FILTER (WHERE article_id NOT IN (SELECT article_id FROM articles)) AS unknown_article_rows,
    count(*) FILTER (WHERE t_dat IS NULL OR article_id IS NULL OR price IS NULL OR channel IS NULL)
        AS empty_value_rows
FROM staged_transactions;

CREATE TABLE transactions AS
SELECT t.t_dat, t.customer_idx, t.article_id, t.price, t.channel
FROM staged_transactions t
SEMI JOIN articles a ON a.article_id = t.article_id
WHERE t.customer_idx IS NOT NULL;

DROP TABLE staged_transactions;
