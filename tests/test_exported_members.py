import finrnn_core


def test_all_names_exist_and_public_names_are_exported():
    for name in finrnn_core.__all__:
        assert hasattr(finrnn_core, name), name
    public = {
        name
        for name, value in vars(finrnn_core).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("finrnn_core")
    }
    assert public <= set(finrnn_core.__all__), public - set(finrnn_core.__all__)
