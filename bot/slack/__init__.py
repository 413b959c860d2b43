"""certdesk in Slack: the bolt app (``app``), its listeners (``listeners``), Block Kit rendering
(``blocks``), and the flows the listeners share (``desk``)."""
