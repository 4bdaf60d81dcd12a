-- Every customer's age band, the one place its formula is written: 0 under 25, 1 25-34, 2 35-44,
-- 3 45-54, 4 55 and over, -1 without an age -> temp table cust_band(customer_idx, band). The
-- popular-by-band source, the age band's best sellers and every customer's band read it.
-- reads: customers
-- writes: cust_band
-- params: none
CREATE OR REPLACE TEMP TABLE cust_band AS
SELECT customer_idx,
       CASE WHEN age IS NULL THEN -1 ELSE CAST(least(greatest((age - 15) // 10, 0), 4) AS INTEGER) END AS band
FROM customers;
