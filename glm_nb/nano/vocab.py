"""The values nano-GLM's corpus draws from, split into what training sees and what only evaluation sees.

`TRAIN` lists are the training vocabulary; `UNSEEN` lists never appear in a training example, so the
"never-seen values" evaluation set measures copying rather than memorising. Numbers are split the same way by a
hash (`number_is_unseen`): a digit-split tokenizer should copy them either way.
"""

from __future__ import annotations

import zlib

__all__ = [
    "TRAIN", "UNSEEN", "COLOURS_ZH", "CONDITIONS_ZH", "SHAPES_ZH", "UNITS", "INVENTABLE", "INVENTABLE_TOPICS",
    "INVENTABLE_LABELS", "made_up", "made_up_word", "made_up_han", "number_is_unseen",
]  # fmt: skip

_CITIES_EN = (
    "Paris London Berlin Madrid Rome Tokyo Seoul Sydney Toronto Chicago Boston Denver Dublin Oslo Vienna Prague "
    "Lisbon Athens Cairo Nairobi Lima Bogota Santiago Mumbai Delhi Bangkok Hanoi Manila Jakarta Singapore "
    "Istanbul Moscow Warsaw Zurich Geneva Munich Hamburg Milan Naples Seattle Austin Phoenix Miami Atlanta "
    "Dallas Houston Montreal Vancouver Melbourne Auckland Helsinki Stockholm Copenhagen Brussels Amsterdam "
    "Budapest Bucharest Sofia Kyiv Riga Tallinn Vilnius Edinburgh Glasgow Manchester Liverpool Lyon Marseille "
    "Seville Valencia Porto Florence Venice Osaka Kyoto Busan Taipei Dubai Doha Riyadh Tehran Karachi Lahore "
    "Dhaka Colombo Perth Brisbane Adelaide Calgary Ottawa Havana Quito Caracas"
).split()
_CITIES_EN_UNSEEN = (
    "Reykjavik Casablanca Tbilisi Yerevan Almaty Tashkent Ulaanbaatar Kathmandu Windhoek Accra Dakar Tunis "
    "Asuncion Montevideo Panama Kingston Anchorage Honolulu Winnipeg Halifax Salzburg Krakow Gdansk Bergen"
).split()
_CITIES_ZH = (
    "北京 上海 广州 深圳 杭州 南京 成都 重庆 武汉 西安 天津 苏州 长沙 郑州 青岛 大连 厦门 昆明 沈阳 哈尔滨 "
    "济南 合肥 福州 南昌 贵阳 南宁 兰州 太原 石家庄 呼和浩特 乌鲁木齐 拉萨 海口 三亚 宁波 无锡 东京 首尔 巴黎 伦敦"
).split()
_CITIES_ZH_UNSEEN = "银川 西宁 珠海 温州 洛阳 桂林 丽江 开封".split()

_COLOURS = (
    "red blue green yellow orange purple pink black white gray brown cyan magenta navy gold silver maroon "
    "olive lime indigo violet coral salmon crimson turquoise"
).split()
_COLOURS_UNSEEN = "teal orchid khaki plum tomato sienna tan chocolate".split()
COLOURS_ZH = {
    "红色": "red", "蓝色": "blue", "绿色": "green", "黄色": "yellow", "橙色": "orange", "紫色": "purple",
    "粉色": "pink", "黑色": "black", "白色": "white", "灰色": "gray", "棕色": "brown", "金色": "gold",
    "银色": "silver", "青色": "cyan",
}  # fmt: skip

SHAPES_ZH = {"圆": "circle", "正方形": "square", "三角形": "triangle", "长方形": "rectangle"}
CONDITIONS_ZH = ("晴", "多云", "小雨", "阴", "大风", "雷阵雨", "小雪", "有雾")
_CONDITIONS = ("sunny", "cloudy", "rainy", "windy", "foggy", "snowy", "stormy", "clear", "overcast", "drizzly")

# (from, to, factor, Chinese names): the tool takes the unit symbols; Chinese prompts name them in Chinese.
UNITS = (
    ("km", "mi", 0.621371, "公里", "英里"),
    ("mi", "km", 1.609344, "英里", "公里"),
    ("kg", "lb", 2.204623, "千克", "磅"),
    ("lb", "kg", 0.453592, "磅", "千克"),
    ("m", "ft", 3.280840, "米", "英尺"),
    ("ft", "m", 0.304800, "英尺", "米"),
    ("l", "gal", 0.264172, "升", "加仑"),
    ("cm", "in", 0.393701, "厘米", "英寸"),
    ("in", "cm", 2.540000, "英寸", "厘米"),
)

_TOPICS = (
    "KV cache|chat templates|tool calling|ONNX export|int4 quantization|rotary embeddings|attention heads|"
    "Jupyter magics|artifacts|streaming output|sampling|temperature|top p|beam search|tokenizers|"
    "model conversion|CUDA graphs|IO binding|reasoning mode|deep research|system prompts|SVG rendering|"
    "batch size|context length|YaRN|GPU memory|CPU threads|safetensors|prompt format|stop tokens"
).split("|")
_TOPICS_UNSEEN = "memory mapping|graph fusion|warmup steps|cell widgets|error messages|unit tests".split("|")
_TOPICS_ZH = "模型转换|量化|注意力|推理模式|工具调用|采样|上下文长度|提示格式|流式输出|分词器".split("|")
_TOPICS_ZH_UNSEEN = "内存映射|单元测试|错误信息".split("|")

_NAMES = (
    "Alice Bob Carol David Emma Frank Grace Henry Ivy Jack Kate Leo Mia Noah Olivia Paul Quinn Rosa Sam Tina "
    "Uma Victor Wendy Xavier Yara Zoe Liam Ava Ethan Sofia Lucas Chloe Mateo Nina Omar Priya Ravi Sara Tom"
).split()
_NAMES_UNSEEN = "Bjorn Ingrid Kenji Amara Dmitri Fatima Oskar Leilani".split()
_NAMES_ZH = "小明 小红 李雷 韩梅梅 王芳 张伟 刘洋 陈静 杨帆 赵磊".split()
_NAMES_ZH_UNSEEN = "周杰 吴敏 孙悦".split()

_LABELS = (
    "Save Submit Cancel Delete Send Open Close Start Stop Next Back Login Logout Search Download Upload Buy "
    "Subscribe Share Continue Retry Confirm Reset Apply Edit"
).split()
_LABELS_UNSEEN = "Archive Publish Export Refresh Rename Unlock".split()
_LABELS_ZH = "保存 提交 取消 删除 发送 打开 关闭 开始 下一步 登录 搜索 下载 确定".split()
_LABELS_ZH_UNSEEN = "发布 导出 刷新".split()

_TITLES = (
    "Welcome|Hello|Profile|Settings|Weather|News|Tasks|Notes|Dashboard|Summary|Results|Contact|About us|"
    "Todays plan|Reminder|Status|Shopping list|Team|Pricing|Events"
).split("|")
_TITLES_UNSEEN = "Roadmap|Changelog|Inbox|Gallery".split("|")

TRAIN = {
    "city_en": _CITIES_EN, "city_zh": _CITIES_ZH, "colour": _COLOURS, "topic_en": _TOPICS,
    "topic_zh": _TOPICS_ZH, "name_en": _NAMES, "name_zh": _NAMES_ZH, "label_en": _LABELS, "label_zh": _LABELS_ZH,
    "title": _TITLES, "condition": _CONDITIONS,
}  # fmt: skip
UNSEEN = {
    "city_en": _CITIES_EN_UNSEEN, "city_zh": _CITIES_ZH_UNSEEN, "colour": _COLOURS_UNSEEN,
    "topic_en": _TOPICS_UNSEEN, "topic_zh": _TOPICS_ZH_UNSEEN, "name_en": _NAMES_UNSEEN,
    "name_zh": _NAMES_ZH_UNSEEN, "label_en": _LABELS_UNSEEN, "label_zh": _LABELS_ZH_UNSEEN,
    "title": _TITLES_UNSEEN, "condition": _CONDITIONS,
}  # fmt: skip


def number_is_unseen(n: float) -> bool:
    """Whether a number is held out of training (about one in eight, by a stable hash of its text)."""
    return zlib.crc32(repr(n).encode()) % 8 == 0


# Invented values for the copy task: pronounceable words and runs of the training values' Chinese characters.
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
_UNSEEN_WORDS = frozenset(w for pool in UNSEEN.values() for w in pool)
_TRAIN_WORDS = frozenset(w for pool in TRAIN.values() for w in pool)
_HAN = sorted({ch for pool in TRAIN.values() for w in pool for ch in w if "\u4e00" <= ch <= "\u9fff"})


def made_up_word(rng, syllables: tuple[int, int] = (1, 3), capital: bool | None = None) -> str:
    """A pronounceable invented word ("bakimo", "Tegu"), never one of the held-out values. `capital`: None for a
    coin flip."""
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(*syllables)))
    word = word.capitalize() if capital or (capital is None and rng.random() < 0.5) else word
    return word if word not in _UNSEEN_WORDS else "ok"


def made_up_han(rng, n: int) -> str:
    """`n` Chinese characters drawn from those the training values use."""
    return "".join(rng.choice(_HAN) for _ in range(n))


# Search topics invented with `Picker(invent_topics=...)`: 30 listed topics were recalled, not copied (asked about
# "memory mapping", the model searched "temperature"), as listed cities were before invented ones.
INVENTABLE_TOPICS = frozenset({"topic_en", "topic_zh"})

# Button labels and card titles invented with `Picker(invent_labels=...)`: with a few dozen listed ones the model
# recalled a known label for a never-seen one ("Export" became "Upload", "Roadmap" became "Rosa") and sometimes
# broke the HTML while copying one it did not know.
INVENTABLE_LABELS = frozenset({"label_en", "label_zh", "title"})

# Kinds a training value may be invented for (`Picker(invent=...)`): a listed city or name is often one token, which
# a small model recalls instead of copying, so a never-seen one became a known one ("Reykjavik" -> "Ravi") or broke
# the call. An invented one is several tokens that exist only in the prompt, as a never-seen value is.
INVENTABLE = frozenset({"city_en", "city_zh", "name_en", "name_zh"})


# Invented cities and names come from spaces far larger than the listed values: a CPU phase that drew them from 90
# syllables and the training values' own characters taught the model to *produce* such words (asked for 石家庄 it
# called "分赵", for Istanbul "gohu") instead of copying them (benchmarks/results/nano-gpu-sweep-2026-11-27.md).
# Words: 2-3 syllables of an onset (sometimes none, sometimes a cluster), a vowel or diphthong and sometimes a coda
# (100,000 draws give ~97,000 distinct words).
# Characters: the 3,755 of GB2312's first level, most of which no listed value uses.
_ONSETS = tuple("b c d f g h j k l m n p r s t v w y z x q".split())
_CLUSTERS = tuple("br bl ch cl cr dr fl gr kr pl pr sh sk sl st th tr tw zh kh gh ts".split())
_NUCLEI = tuple("a e i o u".split())
_DIPHTHONGS = tuple("ai au ea ee ei ia io oa oo ou ua ue y".split())
_CODAS = tuple("n r l s k m t nd ng rk st x".split())
_HAN_WIDE = tuple(
    bytes([hi, lo]).decode("gb2312")
    for hi in range(0xB0, 0xD8)
    for lo in range(0xA1, 0xFF)
    if hi < 0xD7 or lo <= 0xF9
)


def _wide_word(rng) -> str:
    """2-3 syllables, 4-10 letters: "Tobrank", "Vushiel", "Kadmoux"."""
    while True:
        word = ""
        for i in range(rng.randint(2, 3)):
            if i == 0 and rng.random() < 0.15:
                onset = ""
            else:
                onset = rng.choice(_CLUSTERS if rng.random() < 0.2 else _ONSETS)
            nucleus = rng.choice(_DIPHTHONGS if rng.random() < 0.2 else _NUCLEI)
            word += onset + nucleus + (rng.choice(_CODAS) if rng.random() < 0.35 else "")
        if 4 <= len(word) <= 10:
            return word.capitalize()


def made_up(kind: str, rng) -> str:
    """An invented value of `kind` (one of INVENTABLE, INVENTABLE_TOPICS or INVENTABLE_LABELS), never a held-out
    value: a capitalised word of 2-3 random syllables, or 2 (cities, labels) or 2-3 (names) characters of GB2312's
    first level; a topic is one or two lower-case words, or 2-4 characters."""
    assert kind in INVENTABLE | INVENTABLE_TOPICS | INVENTABLE_LABELS, kind
    while True:
        if kind == "topic_en":
            value = " ".join(_wide_word(rng).lower() for _ in range(rng.randint(1, 2)))
        elif kind == "topic_zh":
            value = "".join(rng.choice(_HAN_WIDE) for _ in range(rng.randint(2, 4)))
        elif kind.endswith("_zh"):
            value = "".join(rng.choice(_HAN_WIDE) for _ in range(rng.randint(2, 3) if kind == "name_zh" else 2))
        else:
            value = _wide_word(rng)
        if value not in _UNSEEN_WORDS and value not in _TRAIN_WORDS:
            return value
