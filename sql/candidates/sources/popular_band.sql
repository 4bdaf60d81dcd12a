-- Source popular_band: last week's best sellers among the buyers of the customer's age band
-- (band_pop of the context; band -1, customers without an age: every buyer's), written per band
-- (src_band).
-- reads: band_pop, wanted
-- writes: src_band
-- params: $k
INSERT INTO src_band
SELECT p.band, p.article_id, 'popular_band', CAST(p.n AS DOUBLE), p.rank
FROM band_pop p SEMI JOIN (SELECT DISTINCT band FROM wanted) b ON b.band = p.band
WHERE p.rank <= $k;
