"""The department's mailbox and outgoing mail: `mail fetch` saves the units' messages into the
inbox as .eml files (read-only on the server), `mail send` sends each unit the letter, feedback
workbook and e-mail text a consolidation wrote. `imap.py` and `smtp.py` are the boundaries over
imaplib and smtplib; `server.py` says where and how to connect (TLS, certificates)."""
