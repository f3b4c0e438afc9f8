"""Intake: what is in the inbox (listing, file stats), what each file is before any parser
sees it (screening), when it was received (receipts, first sights, e-mail headers), and the
files taken out of e-mails and zips."""
