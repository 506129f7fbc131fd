-- id: I11
-- title: vacancy
-- numerator: addresses with no current BRP registration (W or B) and no active
--   establishment linked to them
-- denominator: addresses (all BAG units)
-- sources: bag, brp, kvk
-- privacy_unit: address
--
-- Support: distinct addresses on both sides.
WITH occupied AS (
  SELECT adresseerbaarobject_id AS id FROM actuele_inschrijvingen
  UNION
  SELECT adresseerbaarobject_id AS id FROM actieve_vestigingen
  WHERE adresseerbaarobject_id IS NOT NULL
),
facts AS (
  SELECT
    a.buurtcode, a.wijkcode, a.gemeentecode, a.identificatie AS unit, a.record_key,
    o.id IS NULL AS in_numerator
  FROM adressen a
  LEFT JOIN occupied o ON o.id = a.identificatie
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
    COUNT(DISTINCT CASE WHEN in_numerator THEN unit END) AS numerator_support,
    COUNT(DISTINCT unit) AS denominator_support,
    SUM(CASE WHEN in_numerator THEN record_key ELSE 0 END) AS numerator_key,
    SUM(record_key) AS denominator_key
  FROM facts
  GROUP BY GROUPING SETS ((gemeentecode, wijkcode, buurtcode), (gemeentecode, wijkcode), (gemeentecode))
)
SELECT * FROM cells
