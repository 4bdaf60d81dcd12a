-- Source repurchase: the customer's own articles of the window (hist), by recency-weighted count
-- (each purchase weighs exp(-age / 14 days)); ties by the latest purchase, then the article id.
-- Sums of floats are rounded to 9 decimals: DuckDB adds in parallel, in an order that varies.
-- reads: hist, wanted
-- writes: src
-- params: $k
INSERT INTO src
SELECT customer_idx, article_id, 'repurchase', score,
       CAST(row_number() OVER (PARTITION BY customer_idx ORDER BY score DESC, last_age, article_id) AS INTEGER) AS rank
FROM (SELECT h.customer_idx, h.article_id, round(sum(exp(-h.age_days / 14.0)), 9) AS score,
             min(h.age_days) AS last_age
      FROM hist h SEMI JOIN wanted w ON w.customer_idx = h.customer_idx
      GROUP BY h.customer_idx, h.article_id)
QUALIFY rank <= $k;
