"""Adversarial losses and regularisers. Each loss object runs the forward passes for a training phase and calls
backward itself, so the engine stays the same for every family (NVlabs' phase structure: Gmain/Greg/Gboth, Dmain/Dreg/Dboth)."""
