-- id: I08
-- title: quick resales
-- numerator: sales in the window (peildatum - 12 months, peildatum] whose
--   previous sale of the same address was at most 12 months earlier at a
--   price at least 1.30 times lower
-- denominator: sales in the window
-- sources: vastgoed, bag
-- privacy_unit: sale
--
-- The previous sale is the sale on the latest date strictly before this
-- one; when several sales share that date, the resale counts against the
-- cheapest of them (the ratio holds against at least one). A previous price
-- of zero never counts. The price test is exact decimal arithmetic:
-- koopsom * 10 >= previous koopsom * 13. Support: distinct addresses of the
-- resales; number of sales (distinct transactie_id).
WITH daily AS (
  SELECT adresseerbaarobject_id, transactiedatum, MIN(koopsom) AS cheapest
  FROM vastgoed
  GROUP BY adresseerbaarobject_id, transactiedatum
),
previous AS (
  SELECT
    adresseerbaarobject_id, transactiedatum,
    LAG(transactiedatum) OVER (PARTITION BY adresseerbaarobject_id ORDER BY transactiedatum) AS previous_date,
    LAG(cheapest) OVER (PARTITION BY adresseerbaarobject_id ORDER BY transactiedatum) AS previous_koopsom
  FROM daily
),
facts AS (
  SELECT
    v.buurtcode, v.wijkcode, v.gemeentecode, v.transactie_id AS unit, v.record_key, v.adresseerbaarobject_id AS address,
    COALESCE(p.previous_date >= v.transactiedatum - INTERVAL '12 months'
             AND p.previous_koopsom > 0
             AND v.koopsom * 10 >= p.previous_koopsom * 13, false) AS in_numerator
  FROM vastgoed v
  JOIN previous p
    ON p.adresseerbaarobject_id = v.adresseerbaarobject_id AND p.transactiedatum = v.transactiedatum
  WHERE v.transactiedatum > {{window_start}} AND v.transactiedatum <= {{peildatum}}
),
cells AS (
  SELECT
    CASE WHEN GROUPING(buurtcode) = 0 THEN 'buurt'
         WHEN GROUPING(wijkcode) = 0 THEN 'wijk'
         ELSE 'gemeente' END AS level,
    COALESCE(buurtcode, wijkcode, gemeentecode) AS code,
    COALESCE(wijkcode, gemeentecode) AS wijkcode,
    gemeentecode,
    SUM(CASE WHEN in_numerator THEN 1 ELSE 0 END) AS numerator,
    COUNT(*) AS denominator,
    COUNT(DISTINCT CASE WHEN in_numerator THEN address END) AS numerator_support,
    COUNT(DISTINCT unit) AS denominator_support,
    SUM(CASE WHEN in_numerator THEN record_key ELSE 0 END) AS numerator_key,
    SUM(record_key) AS denominator_key
  FROM facts
  GROUP BY GROUPING SETS ((gemeentecode, wijkcode, buurtcode), (gemeentecode, wijkcode), (gemeentecode))
)
SELECT * FROM cells
