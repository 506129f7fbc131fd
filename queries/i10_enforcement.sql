-- id: I10
-- title: enforcement
-- numerator: enforcement cases (every soort except Bibob-toets) started in the
--   window (peildatum - 12 months, peildatum]
-- denominator: addresses (all BAG units)
-- sources: handhaving, bag
-- privacy_unit: address
--
-- Support: distinct addresses on both sides.
WITH facts AS (
  SELECT 'n' AS side, buurtcode, wijkcode, gemeentecode, adresseerbaarobject_id AS unit, record_key
  FROM handhaving
  WHERE soort <> 'Bibob-toets'
    AND datum_start > {{window_start}} AND datum_start <= {{peildatum}}
  UNION ALL
  SELECT 'd' AS side, buurtcode, wijkcode, gemeentecode, identificatie AS unit, record_key
  FROM adressen
),
cells AS (
  SELECT
    CASE WHEN GROUPING(buurtcode) = 0 THEN 'buurt'
         WHEN GROUPING(wijkcode) = 0 THEN 'wijk'
         ELSE 'gemeente' END AS level,
    COALESCE(buurtcode, wijkcode, gemeentecode) AS code,
    COALESCE(wijkcode, gemeentecode) AS wijkcode,
    gemeentecode,
    SUM(CASE WHEN side = 'n' THEN 1 ELSE 0 END) AS numerator,
    SUM(CASE WHEN side = 'd' THEN 1 ELSE 0 END) AS denominator,
    COUNT(DISTINCT CASE WHEN side = 'n' THEN unit END) AS numerator_support,
    COUNT(DISTINCT CASE WHEN side = 'd' THEN unit END) AS denominator_support,
    SUM(CASE WHEN side = 'n' THEN record_key ELSE 0 END) AS numerator_key,
    SUM(CASE WHEN side = 'd' THEN record_key ELSE 0 END) AS denominator_key
  FROM facts
  GROUP BY GROUPING SETS ((gemeentecode, wijkcode, buurtcode), (gemeentecode, wijkcode), (gemeentecode))
)
SELECT * FROM cells
