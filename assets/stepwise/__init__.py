"""stepwise: step-wise self-rewarding preference data and step-DPO models, iterated."""
