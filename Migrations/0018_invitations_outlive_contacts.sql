-- An anonymous round's groups are built from its invitations (docs/SURVEYS.md, "Anonymity"). When
-- deleting a contact deleted its invitations, a closed round's groups could shrink after its
-- results were read, and the same filter read before and after would isolate one answer. A
-- deleted contact's invitations now stay, without the contact: the round's counts never change.
ALTER TABLE survey_invitations DROP CONSTRAINT survey_invitations_tenant_id_contact_id_fkey;
ALTER TABLE survey_invitations ADD FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, contact_id)
  ON DELETE SET NULL (contact_id);
