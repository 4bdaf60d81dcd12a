-- Source two_tower_similar, "like what you bought lately": the recently sold articles nearest, by
-- the learned article embeddings, to the customer's articles of the last $cobuy_days days
-- (wanted_recent; the neighbours are tt_sim(src, dst, sim, rank), from FAISS in Python:
-- candidates.TwoTowerSource.similar), each seed weighted by its recency and the neighbour by
-- 1 / sqrt(its rank): what the model learnt belongs together (a collection, an outfit) beyond
-- the metadata.
-- reads: wanted_recent, tt_sim
-- writes: src
-- params: $k
INSERT INTO src
SELECT customer_idx, article_id, 'two_tower_similar', score,
       CAST(row_number() OVER (PARTITION BY customer_idx ORDER BY score DESC, article_id) AS INTEGER) AS rank
FROM (SELECT m.customer_idx, s.dst AS article_id,
             round(sum(exp(-m.age_days / 14.0) / sqrt(s.rank)), 9) AS score
      FROM wanted_recent m JOIN tt_sim s ON s.src = m.article_id
      GROUP BY m.customer_idx, s.dst)
QUALIFY rank <= $k;
