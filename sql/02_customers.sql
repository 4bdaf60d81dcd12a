-- Step 2: customers (view input_customers) -> customers (dense customer_idx, flags as 0/1,
-- categorical codes, age), through the scratch temp table raw_customers (dropped). The codes of
-- club_member_status and fashion_news_frequency are inserted into step 1's categories.
-- FN and Active are '1.0' or empty; 'NONE' and 'None' are kept as the distinct values they are.
-- reads: input_customers, categories
-- writes: raw_customers, customers, categories
-- params: none
CREATE TEMP TABLE raw_customers AS
SELECT * FROM input_customers;

INSERT INTO categories
SELECT feature, name, CAST(row_number() OVER (PARTITION BY feature ORDER BY name) AS SMALLINT)
FROM (
    SELECT DISTINCT 'club_member_status' AS feature, club_member_status AS name FROM raw_customers
    UNION ALL SELECT DISTINCT 'fashion_news_frequency', fashion_news_frequency FROM raw_customers
)
WHERE name IS NOT NULL;

CREATE TABLE customers AS
WITH postal AS (
    SELECT postal_code, CAST(row_number() OVER (ORDER BY postal_code) AS INTEGER) AS postal_idx
    FROM (SELECT DISTINCT postal_code FROM raw_customers WHERE postal_code IS NOT NULL)
)
SELECT
    CAST(row_number() OVER (ORDER BY c.customer_id) - 1 AS INTEGER) AS customer_idx,
    c.customer_id,
    CAST(coalesce(CAST(c.FN AS DOUBLE), 0) AS TINYINT) AS fn,
    CAST(coalesce(CAST(c.Active AS DOUBLE), 0) AS TINYINT) AS active,
    coalesce(cs.code, 0) AS club_member_status,
    coalesce(nf.code, 0) AS fashion_news_frequency,
    CAST(CAST(c.age AS DOUBLE) AS SMALLINT) AS age,
    coalesce(p.postal_idx, 0) AS postal_code
FROM raw_customers c
LEFT JOIN categories cs ON cs.feature = 'club_member_status' AND cs.name = c.club_member_status
LEFT JOIN categories nf ON nf.feature = 'fashion_news_frequency' AND nf.name = c.fashion_news_frequency
LEFT JOIN postal p ON p.postal_code = c.postal_code
ORDER BY customer_idx;

DROP TABLE raw_customers;
