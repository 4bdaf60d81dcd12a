-- Baseline "recent purchases": for each customer of temp table wanted(customer_idx), the distinct
-- articles bought in the $days days up to $cutoff, the most recently bought first
-- -> temp table baseline_recent(customer_idx, article_id, rank).
-- reads: wanted, transactions
-- writes: baseline_recent
-- params: $cutoff, $days
CREATE OR REPLACE TEMP TABLE baseline_recent AS
WITH last AS (
    SELECT t.customer_idx, t.article_id, max(t.t_dat) AS last_bought, count(*) AS n
    FROM transactions t SEMI JOIN wanted w ON w.customer_idx = t.customer_idx
    WHERE t.t_dat <= CAST($cutoff AS DATE) AND t.t_dat > CAST($cutoff AS DATE) - $days
    GROUP BY t.customer_idx, t.article_id
)
SELECT customer_idx, article_id,
       row_number() OVER (PARTITION BY customer_idx ORDER BY last_bought DESC, n DESC, article_id) AS rank
FROM last ORDER BY customer_idx, rank;
