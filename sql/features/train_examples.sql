-- Training examples: the distinct (customer, article, day) purchases of the $weeks weeks up to
-- $cutoff, each with asof_date = the first day of its week (features come from before that day)
-- -> temp table examples, plus the as-of pairs the feature files read.
-- reads: transactions
-- writes: examples, asof_customers, asof_articles
-- params: $cutoff, $weeks
CREATE OR REPLACE TEMP TABLE examples AS
SELECT DISTINCT customer_idx, article_id,
       CAST($cutoff AS DATE) - 7 * CAST((CAST($cutoff AS DATE) - t_dat) // 7 AS INTEGER) - 6 AS asof_date
FROM transactions
WHERE t_dat <= CAST($cutoff AS DATE) AND t_dat > CAST($cutoff AS DATE) - 7 * $weeks;

CREATE OR REPLACE TEMP TABLE asof_customers AS SELECT DISTINCT customer_idx, asof_date FROM examples;

CREATE OR REPLACE TEMP TABLE asof_articles AS SELECT DISTINCT article_id, asof_date FROM examples;
