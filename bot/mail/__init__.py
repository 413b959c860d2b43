"""E-mail for holders outside Slack.

- :mod:`.smtp`: ``CERTDESK_SMTP_URL`` parsed and validated; sending with aiosmtplib, its
  answers sorted into transient (4xx, unreachable) and permanent (5xx) failures
- :mod:`.outbox`: without SMTP, each mail is an ``.eml`` file under the data directory
- :mod:`.texts`, :mod:`.compose`: the mails' texts (English and Chinese) and the multipart
  text + HTML message built from them (pure)
- :mod:`.postman`: one door for sending: SMTP when configured, else the outbox
- :mod:`.models`, :mod:`.queue`: the durable queue of mails sent later (the authorization
  code in ``CERTDESK_MAIL_CODE=separate`` mode), sent by the running server or clock
- :mod:`.holders`: who gets what (Slack first, mail, or both) for links and notices
- :mod:`.reminders`: the reminder notifier that mails owners and routes between channels
"""
