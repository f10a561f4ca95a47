"""EventBridge-compatible events: pattern matching, rules and delivery."""
