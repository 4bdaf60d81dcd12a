-- Source two_tower: the TFRS two-tower's nearest recently sold articles of each customer, found
-- by FAISS in Python (candidates.TwoTowerSource.hits) and handed over as temp table
-- tt_hits(customer_idx, article_id, score, rank), already cut to the quota.
-- reads: tt_hits
-- writes: src
-- params: none
INSERT INTO src
SELECT customer_idx, article_id, 'two_tower', score, rank FROM tt_hits;
