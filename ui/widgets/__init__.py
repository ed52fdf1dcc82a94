"""Drawing pieces shared by the views: charts, escaped Markdown, presenter styling, the chain-rule calculator, the error guard, model titles."""
