"""rebot: a WeChat / WeCom chat bot for the rare-earth metals market."""


def create_app(config=None, clock=None):
    """The Flask app (see bot.app.create_app); imported lazily so `import bot` has no side effects."""
    from bot.app import create_app as factory

    return factory(config, clock)
