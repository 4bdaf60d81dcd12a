-- Candidates, step 1: the empty tables the sources of sql/candidates/sources/ append their
-- proposals to, for the customers of temp table wanted(customer_idx, band), each source at most
-- its quota per customer (rank 1 = its best): src, one row per (customer, article, source), and
-- src_band, one row per (age band, article, source) for a source whose list is the same for
-- every customer of an age band (written once, not once per customer). The registry of the
-- sources, their order and quotas is candidates.SOURCES. Also what several sources read:
-- wanted_recent(customer_idx, article_id, age_days), the wanted customers' articles of the last
-- $cobuy_days days, each at its latest purchase.
-- reads: hist, wanted
-- writes: src, src_band, wanted_recent
-- params: $cobuy_days
CREATE OR REPLACE TEMP TABLE src (customer_idx INTEGER, article_id INTEGER, source VARCHAR,
                                  score DOUBLE, rank INTEGER);
CREATE OR REPLACE TEMP TABLE src_band (band INTEGER, article_id INTEGER, source VARCHAR,
                                       score DOUBLE, rank INTEGER);
CREATE OR REPLACE TEMP TABLE wanted_recent AS
SELECT h.customer_idx, h.article_id, min(h.age_days) AS age_days
FROM hist h SEMI JOIN wanted w ON w.customer_idx = h.customer_idx
WHERE h.age_days < $cobuy_days GROUP BY h.customer_idx, h.article_id;
