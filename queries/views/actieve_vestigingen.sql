-- actieve_vestigingen: establishments active at the peildatum: registered on
-- or before it and not ended on or before it. `adresseerbaarobject_id` is
-- null for establishments that could not be linked to a BAG address.
CREATE VIEW actieve_vestigingen AS
SELECT kvk_nummer, vestigingsnummer, sbi_code, adresseerbaarobject_id, buurtcode, wijkcode, gemeentecode, record_key
FROM kvk
WHERE datum_inschrijving <= {{peildatum}}
  AND (datum_opheffing IS NULL OR datum_opheffing > {{peildatum}})
