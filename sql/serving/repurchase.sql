-- Repurchase candidates: for each customer of temp table wanted(customer_idx), the articles bought
-- in the $days days up to $cutoff, scored by recency and frequency (each purchase adds
-- exp(-age in days / 14)), best first, at most $k per customer -> temp table repurchase.
-- reads: wanted, transactions
-- writes: repurchase
-- params: $cutoff, $days, $k
CREATE OR REPLACE TEMP TABLE repurchase AS
WITH scored AS (
    SELECT t.customer_idx, t.article_id,
           sum(exp(-(CAST($cutoff AS DATE) - t.t_dat) / 14.0)) AS score,
           max(t.t_dat) AS last_bought
    FROM transactions t SEMI JOIN wanted w ON w.customer_idx = t.customer_idx
    WHERE t.t_dat <= CAST($cutoff AS DATE) AND t.t_dat > CAST($cutoff AS DATE) - $days
    GROUP BY t.customer_idx, t.article_id
), ranked AS (
    SELECT *, row_number() OVER (PARTITION BY customer_idx
                                 ORDER BY score DESC, last_bought DESC, article_id) AS rank
    FROM scored
)
SELECT customer_idx, article_id, CAST(score AS FLOAT) AS score, last_bought, rank
FROM ranked WHERE rank <= $k ORDER BY customer_idx, rank;
