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
SELECT * FROM cells
