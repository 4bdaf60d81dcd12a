-- Source same_product: the other colours of the customer's products (articles sharing
-- product_code, sold in the last 28 days), by the product's recency-weighted count times
-- ln(2 + the article's sales of the last 7 days).
-- reads: cust_prod, wanted, art_ctx
-- writes: src
-- params: $k
INSERT INTO src
SELECT customer_idx, article_id, 'same_product', score,
       CAST(row_number() OVER (PARTITION BY customer_idx ORDER BY score DESC, article_id) AS INTEGER) AS rank
FROM (SELECT p.customer_idx, a.article_id,
             round(max(exp(-p.age_days / 14.0) * p.n * ln(2 + a.sales_7d)), 9) AS score
      FROM cust_prod p SEMI JOIN wanted w ON w.customer_idx = p.customer_idx
      JOIN art_ctx a ON a.product_code = p.product_code
      WHERE a.sales_28d > 0
      GROUP BY p.customer_idx, a.article_id)
QUALIFY rank <= $k;
