-- inwoners: persons with a current W registration, once per area they live
-- in. Count them with COUNT(DISTINCT persoon_id) at every level: a person
-- registered in two buurten of one wijk is one inhabitant of that wijk.
CREATE VIEW inwoners AS
SELECT DISTINCT persoon_id, buurtcode, wijkcode, gemeentecode, record_key
FROM actuele_inschrijvingen
WHERE soort_adres = 'W'
