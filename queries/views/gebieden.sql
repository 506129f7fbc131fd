-- gebieden: every area of the buurten table at every level, one row each:
-- level ('buurt' | 'wijk' | 'gemeente'), code, wijkcode, gemeentecode.
-- A wijk row repeats its own code as wijkcode; a gemeente row repeats its
-- gemeentecode as wijkcode. `onbekend` is not an area: indicators add it
-- only when it holds records.
CREATE VIEW gebieden AS
SELECT DISTINCT 'buurt' AS level, buurtcode AS code, wijkcode, gemeentecode FROM buurten
UNION ALL
SELECT DISTINCT 'wijk' AS level, wijkcode AS code, wijkcode, gemeentecode FROM buurten
UNION ALL
SELECT DISTINCT 'gemeente' AS level, gemeentecode AS code, gemeentecode AS wijkcode, gemeentecode FROM buurten
