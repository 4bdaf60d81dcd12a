-- Step 1: articles (view input_articles, sql/inputs/) -> categories (feature, code, name) and
-- articles (typed, small integer codes), through the scratch temp table raw_articles (dropped).
-- article_id is read as text and cast to INTEGER, so '0108775015' and '108775015' are the same id.
-- Code 0 of every categorical feature means missing.
-- reads: input_articles
-- writes: raw_articles, categories, articles
-- params: none
CREATE TEMP TABLE raw_articles AS
SELECT * FROM input_articles;

CREATE TABLE categories AS
WITH names AS (
    SELECT DISTINCT 'product_type' AS feature, product_type_name AS name FROM raw_articles
    UNION ALL SELECT DISTINCT 'product_group', product_group_name FROM raw_articles
    UNION ALL SELECT DISTINCT 'graphical_appearance', graphical_appearance_name FROM raw_articles
    UNION ALL SELECT DISTINCT 'colour_group', colour_group_name FROM raw_articles
    UNION ALL SELECT DISTINCT 'perceived_colour_value', perceived_colour_value_name FROM raw_articles
    UNION ALL SELECT DISTINCT 'perceived_colour_master', perceived_colour_master_name FROM raw_articles
    UNION ALL SELECT DISTINCT 'department', department_name FROM raw_articles
    UNION ALL SELECT DISTINCT 'index_name', index_name FROM raw_articles
    UNION ALL SELECT DISTINCT 'index_group', index_group_name FROM raw_articles
    UNION ALL SELECT DISTINCT 'section', section_name FROM raw_articles
    UNION ALL SELECT DISTINCT 'garment_group', garment_group_name FROM raw_articles
)
SELECT feature, name, CAST(row_number() OVER (PARTITION BY feature ORDER BY name) AS SMALLINT) AS code
FROM names WHERE name IS NOT NULL;

CREATE TABLE articles AS
SELECT
    CAST(a.article_id AS INTEGER) AS article_id,
    CAST(a.product_code AS INTEGER) AS product_code,
    a.prod_name,
    coalesce(pt.code, 0) AS product_type,
    coalesce(pg.code, 0) AS product_group,
    coalesce(ga.code, 0) AS graphical_appearance,
    coalesce(cg.code, 0) AS colour_group,
    coalesce(pv.code, 0) AS perceived_colour_value,
    coalesce(pm.code, 0) AS perceived_colour_master,
    coalesce(dp.code, 0) AS department,
    coalesce(ix.code, 0) AS index_name,
    coalesce(ig.code, 0) AS index_group,
    coalesce(se.code, 0) AS section,
    coalesce(gg.code, 0) AS garment_group
FROM raw_articles a
LEFT JOIN categories pt ON pt.feature = 'product_type' AND pt.name = a.product_type_name
LEFT JOIN categories pg ON pg.feature = 'product_group' AND pg.name = a.product_group_name
LEFT JOIN categories ga ON ga.feature = 'graphical_appearance' AND ga.name = a.graphical_appearance_name
LEFT JOIN categories cg ON cg.feature = 'colour_group' AND cg.name = a.colour_group_name
LEFT JOIN categories pv ON pv.feature = 'perceived_colour_value' AND pv.name = a.perceived_colour_value_name
LEFT JOIN categories pm ON pm.feature = 'perceived_colour_master' AND pm.name = a.perceived_colour_master_name
LEFT JOIN categories dp ON dp.feature = 'department' AND dp.name = a.department_name
LEFT JOIN categories ix ON ix.feature = 'index_name' AND ix.name = a.index_name
LEFT JOIN categories ig ON ig.feature = 'index_group' AND ig.name = a.index_group_name
LEFT JOIN categories se ON se.feature = 'section' AND se.name = a.section_name
LEFT JOIN categories gg ON gg.feature = 'garment_group' AND gg.name = a.garment_group_name
ORDER BY article_id;

DROP TABLE raw_articles;
