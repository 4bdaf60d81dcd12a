-- Ranking features, part 2: the articles' own features at the context's cut-off (art_ctx of
-- 00_context.sql), one row per article; ranker.features_of gives each candidate its article's row.
-- reads: art_ctx
-- writes: none (returns article_id, then every feature as FLOAT, NULL as NaN)
-- params: none
SELECT article_id, coalesce(CAST(COLUMNS(* EXCLUDE (article_id)) AS FLOAT), CAST('NaN' AS FLOAT))
FROM (SELECT article_id, product_type, product_group, colour_group, department, index_group, section,
             garment_group, graphical_appearance, perceived_colour_master,
             sales_1d, sales_7d, sales_prev_7d, sales_28d, sales_all, trend, price_hist,
             art_online_share, days_since_first_sale, pop_rank
      FROM art_ctx)
ORDER BY article_id;
