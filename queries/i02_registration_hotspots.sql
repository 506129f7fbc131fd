-- id: I02
-- title: registration hotspots
-- numerator: addresses with at least 5 active establishments
-- denominator: addresses with at least 1 active establishment
-- sources: kvk, bag
-- privacy_unit: company
--
-- An establishment that could not be linked to a BAG address counts as its
-- own (unknown) address. Support: distinct kvk_nummer of the establishments
-- at the counted addresses.
WITH establishments AS (
  SELECT
    buurtcode, wijkcode, gemeentecode, kvk_nummer, record_key,
    COALESCE(adresseerbaarobject_id, 'vestiging:' || vestigingsnummer) AS address
  FROM actieve_vestigingen
),
facts AS (
  SELECT
    buurtcode, wijkcode, gemeentecode, kvk_nummer AS unit, record_key, address,
    COUNT(*) OVER (PARTITION BY address) >= 5 AS in_numerator
  FROM establishments
),
cells AS (
  SELECT
    CASE WHEN GROUPING(buurtcode) = 0 THEN 'buurt'
         WHEN GROUPING(wijkcode) = 0 THEN 'wijk'
         ELSE 'gemeente' END AS level,
    COALESCE(buurtcode, wijkcode, gemeentecode) AS code,
    COALESCE(wijkcode, gemeentecode) AS wijkcode,
    gemeentecode,
    COUNT(DISTINCT CASE WHEN in_numerator THEN address END) AS numerator,
    COUNT(DISTINCT address) AS denominator,
    COUNT(DISTINCT CASE WHEN in_numerator THEN unit END) AS numerator_support,
    COUNT(DISTINCT unit) AS denominator_support,
    SUM(CASE WHEN in_numerator THEN record_key ELSE 0 END) AS numerator_key,
    SUM(record_key) AS denominator_key
  FROM facts
  GROUP BY GROUPING SETS ((gemeentecode, wijkcode, buurtcode), (gemeentecode, wijkcode), (gemeentecode))
)
SELECT
  COALESCE(c.level, g.level) AS level,
  COALESCE(c.code, g.code) AS code,
  COALESCE(c.wijkcode, g.wijkcode) AS wijkcode,
  COALESCE(c.gemeentecode, g.gemeentecode) AS gemeentecode,
  CAST(COALESCE(c.numerator, 0) AS BIGINT) AS numerator,
  CAST(COALESCE(c.denominator, 0) AS BIGINT) AS denominator,
  CAST(COALESCE(c.numerator_support, 0) AS BIGINT) AS numerator_support,
  CAST(COALESCE(c.denominator_support, 0) AS BIGINT) AS denominator_support,
  CAST(COALESCE(c.numerator_key, 0) AS BIGINT) AS numerator_key,
  CAST(COALESCE(c.denominator_key, 0) AS BIGINT) AS denominator_key
FROM gebieden g
FULL OUTER JOIN cells c
  ON c.level = g.level AND c.code = g.code
 AND c.wijkcode = g.wijkcode AND c.gemeentecode = g.gemeentecode
