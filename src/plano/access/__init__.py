"""Access: gateway keys, budgets, and cost accounting (prices → USD per request)."""
