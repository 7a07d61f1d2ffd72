"""How users ask for each nano-GLM skill: dozens of prompt phrasings per skill, in English and Chinese.

Placeholders in braces are filled by `skills.py`. Every fifth phrasing of a list (index 4, 9, ...) is held out
of training (`corpus.Picker`) so the evaluation can measure phrasings the model never saw.
"""

from __future__ import annotations

__all__ = ["PHRASINGS", "FILLERS", "FACTS", "DEMO_PROMPTS"]


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.strip().splitlines() if line.strip())


PHRASINGS: dict[str, tuple[str, ...]] = {
    "weather_en": _lines("""
        What's the weather in {city}?
        What is the weather like in {city} right now?
        How's the weather in {city}?
        Weather in {city}?
        Tell me the weather in {city}.
        Is it warm in {city} today?
        Check the weather for {city}.
        What's it like outside in {city}?
        Can you look up the weather in {city}?
        I'm going to {city}. What's the weather there?
        How hot is it in {city}?
        Give me the current weather for {city}.
        weather {city}
        Do I need an umbrella in {city}?
        What's the temperature in {city}?
        Please get the weather in {city}.
        Current conditions in {city}?
        Could you tell me how the weather is in {city}?
        Find out the weather in {city} for me.
        What's the forecast for {city} right now?
        How cold is it in {city}?
        Is it raining in {city}?
        Show me the weather in {city}.
        Any idea what the weather is doing in {city}?
    """),
    "weather_zh": _lines("""
        {city}的天气怎么样？
        {city}现在天气如何？
        查一下{city}的天气。
        {city}今天热吗？
        帮我看看{city}的天气。
        {city}天气
        我要去{city}，那边天气怎么样？
        {city}现在多少度？
        {city}下雨了吗？
        请告诉我{city}的天气。
        {city}冷不冷？
        能查一下{city}现在的天气吗？
    """),
    "weather2_en": _lines("""
        Compare the weather in {city1} and {city2}.
        What's the weather in {city1} and in {city2}?
        Weather in {city1} and {city2}?
        Is it warmer in {city1} or {city2}?
        Check the weather for {city1} and {city2}.
        Tell me the weather in both {city1} and {city2}.
        How's the weather in {city1} compared to {city2}?
        I'm choosing between {city1} and {city2}. What's the weather in each?
        Look up the weather in {city1}, then in {city2}.
        Get the current weather for {city1} and for {city2}.
        What's the weather like in {city1} and {city2} today?
        Give me the weather for {city1} and {city2}.
        How hot is it in {city1} and in {city2}?
        Tell me how {city1} and {city2} compare, weather-wise.
        Is it raining in {city1} or {city2}?
        Weather check: {city1} and {city2}.
        Which is colder right now, {city1} or {city2}?
        I have friends in {city1} and {city2}. How's the weather for them?
        Show the weather in {city1} and {city2}.
        Can you get me the temperatures in {city1} and {city2}?
        Both {city1} and {city2}: what's the weather?
        Find the current weather in {city1} and also in {city2}.
    """),
    "weather2_zh": _lines("""
        比较一下{city1}和{city2}的天气。
        {city1}和{city2}的天气怎么样？
        {city1}和{city2}哪个更暖和？
        查一下{city1}和{city2}的天气。
        帮我看看{city1}跟{city2}现在的天气。
        {city1}、{city2}天气
        {city1}和{city2}今天天气如何？
        {city1}跟{city2}哪个冷？
        请告诉我{city1}和{city2}的天气。
        {city1}和{city2}现在多少度？
    """),
    "convert_en": _lines("""
        Convert {value} {from_name} to {to_name}.
        How many {to_name} is {value} {from_name}?
        What is {value} {from_name} in {to_name}?
        {value} {from_name} to {to_name}?
        Please convert {value} {from_name} into {to_name}.
        I have {value} {from_name}. How much is that in {to_name}?
        Change {value} {from_name} to {to_name}.
        How much is {value} {from_name} in {to_name}?
        Express {value} {from_name} in {to_name}.
        Can you convert {value} {from_name} to {to_name} for me?
        {value} {from_name} equals how many {to_name}?
        Turn {value} {from_name} into {to_name}.
        Please tell me what {value} {from_name} is in {to_name}.
        Quick conversion: {value} {from_name} to {to_name}.
        If I have {value} {from_name}, how many {to_name} is that?
        Convert {value} {from_name} into {to_name}, please.
        How many {to_name} are in {value} {from_name}?
        What's {value} {from_name} converted to {to_name}?
        I'd like {value} {from_name} in {to_name}.
        Work out {value} {from_name} in {to_name}.
    """),
    "convert_zh": _lines("""
        把{value}{from_name}换算成{to_name}。
        {value}{from_name}等于多少{to_name}？
        {value}{from_name}是多少{to_name}？
        请把{value}{from_name}转换为{to_name}。
        帮我算一下{value}{from_name}合多少{to_name}。
        {value}{from_name}换成{to_name}是多少？
        {value}{from_name}相当于多少{to_name}？
        把{value}{from_name}转成{to_name}。
        请问{value}{from_name}合多少{to_name}？
        {value}{from_name}折合多少{to_name}？
    """),
    "add_en": _lines("""
        What is {a} plus {b}?
        Add {a} and {b}.
        What's {a} + {b}?
        Calculate {a} + {b}.
        Sum {a} and {b}.
        {a} + {b} = ?
        Please add {a} to {b}.
        How much is {a} plus {b}?
        What do you get when you add {a} and {b}?
        I need the sum of {a} and {b}.
        Compute {a} plus {b}.
        What is the total of {a} and {b}?
        Add up {a} and {b}.
        Could you add {a} and {b} for me?
        Tell me {a} plus {b}.
        What's the sum of {a} and {b}?
        {a} plus {b} is what?
        Please calculate {a} + {b}.
        Find the sum: {a} + {b}
        Work out {a} plus {b}.
    """),
    "add_zh": _lines("""
        {a}加{b}等于多少？
        计算{a}+{b}。
        帮我算一下{a}加{b}。
        {a}和{b}的和是多少？
        {a} + {b} 是多少？
        请把{a}和{b}加起来。
        {a}加上{b}是多少？
        算一下{a}加{b}。
        请计算{a}与{b}之和。
        {a}+{b}等于几？
    """),
    "search_en": _lines("""
        Search the docs for {topic}.
        Find documentation about {topic}.
        Look up {topic} in the docs.
        What do the docs say about {topic}?
        Search for {topic}.
        I need docs on {topic}.
        Can you find something about {topic} in the documentation?
        Is there a page about {topic}?
        Find me the guide on {topic}.
        Look for {topic} in the documentation, please.
        Search the documentation: {topic}
        Where can I read about {topic}?
        Please search the docs for {topic}.
        Anything in the docs about {topic}?
        Check the documentation for {topic}.
        Search docs: {topic}
        Help me find docs about {topic}.
        What does the documentation say on {topic}?
        Can you look up {topic}?
        I want to read the docs on {topic}.
    """),
    "search_zh": _lines("""
        在文档里搜索{topic}。
        查一下关于{topic}的文档。
        文档里有没有讲{topic}的？
        帮我找找{topic}的资料。
        搜索{topic}
        关于{topic}，文档怎么说？
        搜一下文档里的{topic}。
        请在文档中查找{topic}。
        找一下讲{topic}的文档。
        我想看看{topic}的文档。
    """),
    "svg_en": _lines("""
        Draw a {colour} {shape} {size_phrase}.
        Make an SVG of a {colour} {shape} {size_phrase}.
        Can you draw a {colour} {shape} {size_phrase}?
        I'd like a {colour} {shape} {size_phrase}, as SVG.
        Create a {colour} {shape} {size_phrase}.
        Please draw me a {colour} {shape} {size_phrase}.
        SVG: {colour} {shape}, {size_phrase}
        Show a {colour} {shape} {size_phrase}.
        Render a {colour} {shape} {size_phrase} in SVG.
        Sketch a {colour} {shape} {size_phrase}.
        Give me an SVG with a {colour} {shape} {size_phrase}.
        Generate a {colour} {shape} {size_phrase}.
        Could you draw a {colour} {shape} {size_phrase}?
        Make me a {colour} {shape} {size_phrase}.
        Draw me an SVG: a {colour} {shape} {size_phrase}.
        I need a {colour} {shape} {size_phrase}.
        Please create an SVG of a {colour} {shape} {size_phrase}.
        Paint a {colour} {shape} {size_phrase}.
        Produce a {colour} {shape} {size_phrase} as an SVG.
        Let's see a {colour} {shape} {size_phrase}.
    """),
    "svg_zh": _lines("""
        画一个{colour}的{shape}，{size_phrase}。
        请画一个{colour}{shape}，{size_phrase}。
        用SVG画一个{colour}的{shape}，{size_phrase}。
        帮我画个{colour}{shape}，{size_phrase}。
        生成一个{colour}的{shape}，{size_phrase}。
        我想要一个{colour}的{shape}，{size_phrase}。
        请用SVG画{colour}的{shape}，{size_phrase}。
        画个{colour}的{shape}吧，{size_phrase}。
        给我一个{colour}{shape}的SVG，{size_phrase}。
        能画一个{colour}的{shape}吗？{size_phrase}。
    """),
    "button_en": _lines("""
        Make a {colour} button that says {label}.
        Create a {colour} button labeled {label}.
        I need a {colour} {label} button.
        HTML for a {colour} button with the text {label}.
        Build a {colour} button reading {label}.
        Give me a {colour} button saying {label}.
        Can you make a button that says {label}, in {colour}?
        A {colour} button, label {label}.
        Write the HTML for a {colour} button: {label}
        Please make a {label} button in {colour}.
        Could you create a {colour} button with the label {label}?
        Design a {colour} button that reads {label}.
    """),
    "button_zh": _lines("""
        做一个{colour}的按钮，上面写着{label}。
        写一个{colour}按钮，文字是{label}。
        生成一个写着{label}的{colour}按钮。
        我需要一个{colour}的{label}按钮。
        请做一个{colour}的{label}按钮。
    """),
    "card_en": _lines("""
        Make a {colour} card titled {title}.
        Create a {colour} card with the title {title}.
        HTML card, {colour}, title {title}.
        I need a {colour} card that says {title}.
        Build a card with a {colour} background and the heading {title}.
        Give me a {colour} card called {title}.
        Write a small {colour} card with the title {title}.
        Please make a card titled {title} in {colour}.
        Could you make a {colour} card with the heading {title}?
        Design a {colour} card titled {title}.
    """),
    "card_zh": _lines("""
        做一个{colour}的卡片，标题是{title}。
        生成一张{colour}卡片，标题为{title}。
        写一个标题为{title}的{colour}卡片。
        我需要一张{colour}的卡片，标题{title}。
        请做一张{colour}的卡片，标题写{title}。
    """),
    "compare_en": _lines("""
        Which is larger, {a} or {b}?
        Which number is bigger: {a} or {b}?
        Is {a} greater than {b}?
        Compare {a} and {b}.
        Which is more, {a} or {b}?
        Tell me which is larger: {a}, {b}.
        Of {a} and {b}, which is bigger?
        Is {b} smaller than {a}?
        {a} or {b}: which is greater?
        Think about it: is {a} bigger than {b}?
        Which is the larger number, {a} or {b}?
        Pick the bigger one: {a} or {b}.
        Between {a} and {b}, which is larger?
        Which one is greater, {a} or {b}?
        Decide which is bigger: {a} or {b}.
        Is {a} larger than {b}?
        Which of these is larger: {a} or {b}?
        Tell me the bigger number: {a} or {b}.
        Reason it out: {a} or {b}, which is larger?
        Larger one please: {a}, {b}
    """),
    "compare_zh": _lines("""
        {a}和{b}哪个大？
        比较{a}和{b}的大小。
        {a}比{b}大吗？
        {a}与{b}，哪个更大？
        请比较一下{a}和{b}。
        {a}和{b}中哪个数更大？
        {a}和{b}谁更大？
        请判断{a}和{b}哪个大。
        {a}、{b}，哪个数大？
        想一想，{a}和{b}哪个更大？
    """),
    "research_en": _lines("""
        Research {topic} and write a short report.
        Find out about {topic}.
        Write a short report on {topic}.
        What can you find about {topic}?
        Do some research on {topic}.
        Investigate {topic} for me.
        I need a brief report about {topic}.
        Look into {topic} and summarise it.
        Research: {topic}
        Give me a researched summary of {topic}.
        Study {topic} and report back.
        Dig into {topic}, please.
        Please research {topic}.
        Find sources on {topic} and write a brief report.
        Could you research {topic} for me?
        What do sources say about {topic}?
        Put together a short report on {topic}.
        Research {topic}, then summarise.
        I want a short research report on {topic}.
        Gather information on {topic}.
    """),
    "research_zh": _lines("""
        研究一下{topic}，写个简短报告。
        帮我调查{topic}。
        写一份关于{topic}的简短报告。
        查查{topic}的资料并总结。
        关于{topic}，你能找到什么？
        请研究{topic}。
        请调查一下{topic}并写报告。
        帮我研究{topic}。
        搜集{topic}的资料，写一份简报。
        关于{topic}，写一份研究报告。
    """),
    "greet_en": _lines("""
        Hi, I'm {name}.
        Hello! My name is {name}.
        Hey, {name} here.
        Good morning, I am {name}.
        Hi there, this is {name}.
        Nice to meet you, I'm {name}.
        I'm {name}. Hello!
        Greetings from {name}.
        Hello, call me {name}.
        Hi! {name} speaking.
        Hello there, I am {name}.
        My name is {name}.
        Hey! I'm {name}.
        {name} here, hi!
        Hi, my name's {name}.
        Good evening, this is {name}.
        Hello, it's {name}.
        Hey there, I'm {name}.
        This is {name}. Hi!
        Hi, I am {name}, nice to meet you.
    """),
    "greet_zh": _lines("""
        你好，我是{name}。
        我叫{name}，你好！
        嗨，我是{name}。
        你好呀，我的名字是{name}。
        早上好，我是{name}。
        大家好，我是{name}。
        我是{name}，很高兴认识你。
        你好，我叫{name}。
        嗨，我叫{name}！
        晚上好，我是{name}。
    """),
    "repeat_en": _lines("""
        Repeat: {text}
        Repeat after me: {text}
        Say exactly this: {text}
        Echo: {text}
        Copy this text: {text}
        Please repeat {text}
    """),
    "repeat_zh": _lines("""
        重复：{text}
        请重复这句话：{text}
        照着说：{text}
    """),
    "json_en": _lines("""
        Put {text} in JSON.
        Wrap {text} in a JSON object.
        JSON of {text}
        Give me {text} as JSON.
    """),
    "json_zh": _lines("""
        把{text}放进JSON。
        用JSON表示{text}。
    """),
    "each_en": _lines("""
        Put each in its own JSON object: {items}
        One JSON object per item: {items}
        Make a JSON object for each of {items}.
        Write {items} as separate JSON objects.
    """),
    "each_zh": _lines("""
        把每一项分别放进JSON：{items}
        给{items}各写一个JSON。
        分别用JSON表示{items}。
    """),
}

# Optional words around a prompt; they are not phrasings, so every split uses all of them.
FILLERS = {
    "en": (("", ""), ("Hi! ", ""), ("Hello. ", ""), ("Quick question: ", ""), ("Hey, ", ""), ("", " Thanks!"),
           ("", " Thank you."), ("", " :)"), ("Hi, ", " Thanks.")),
    "zh": (("", ""), ("你好，", ""), ("请问，", ""), ("麻烦你，", ""), ("", "谢谢！"), ("", "谢谢。")),
}  # fmt: skip

# Small talk and short facts: (English questions, English answer, Chinese questions, Chinese answer).
FACTS = (
    (
        _lines("""
            Who are you?
            What are you?
            Introduce yourself.
            Are you GLM-4?
            Tell me about yourself.
            What model is this?
            What's your name?
            Which model are you?
            Who am I talking to?
            Describe yourself.
        """),
        "I am nano-GLM, a tiny demo model with the GLM-4 architecture, trained on a small synthetic corpus. "
        "I am not GLM-4.",
        _lines("""
            你是谁？
            介绍一下你自己。
            你是GLM-4吗？
            你是什么模型？
            你叫什么名字？
            你是哪个模型？
            请介绍一下自己。
        """),
        "我是nano-GLM，一个采用GLM-4架构的小型演示模型，只在小规模合成语料上训练过。我不是GLM-4。",
    ),
    (
        _lines("""
            What is GLM-4?
            Tell me about GLM-4.
            What is GLM?
            Explain GLM-4 briefly.
            Who made GLM-4?
            What do you know about GLM-4?
            Describe GLM-4.
            Give me an overview of GLM-4.
            Who released GLM-4?
        """),
        "GLM-4 is a family of open language models from Zhipu AI and Tsinghua University. "
        "The 0414 release has 9B and 32B chat models, GLM-Z1 reasoning models and GLM-Z1-Rumination.",
        _lines("""
            GLM-4是什么？
            介绍一下GLM-4。
            GLM是什么？
            说说GLM-4。
            简单介绍一下GLM-4。
            GLM-4是谁发布的？
        """),
        "GLM-4是智谱AI和清华大学发布的开源语言模型系列，0414版本包括9B和32B的对话模型、GLM-Z1推理模型和沉思模型。",
    ),
    (
        _lines("""
            What is Jupyter?
            Tell me about Jupyter notebooks.
            What is a Jupyter notebook?
            Explain Jupyter briefly.
            What are notebooks for?
            What do you know about Jupyter?
            Describe Jupyter.
            Give me an overview of Jupyter.
            What can I do with Jupyter?
        """),
        "Jupyter is an open notebook environment: you write code in cells, run them one by one, "
        "and see text, tables and plots right below each cell.",
        _lines("""
            Jupyter是什么？
            介绍一下Jupyter。
            什么是Jupyter笔记本？
            说说Jupyter。
            简单介绍一下Jupyter。
            Jupyter有什么用？
        """),
        "Jupyter是一个开源的笔记本环境：代码写在单元格里，逐个运行，结果就显示在单元格下方。",
    ),
    (
        _lines("""
            What is ONNX Runtime?
            Tell me about ONNX Runtime.
            What does ONNX Runtime do?
            Explain ONNX Runtime briefly.
            How do you run models here?
            What do you know about ONNX Runtime?
            Describe ONNX Runtime.
            Give me an overview of ONNX Runtime.
            What is ONNX Runtime used for?
        """),
        "ONNX Runtime is a fast inference engine for models saved as ONNX graphs. "
        "glm-nb converts GLM-4 checkpoints to ONNX and runs them with it, on CPU or CUDA.",
        _lines("""
            ONNX Runtime是什么？
            介绍一下ONNX Runtime。
            ONNX Runtime有什么用？
            说说ONNX Runtime。
            简单介绍一下ONNX Runtime。
            ONNX Runtime是做什么的？
        """),
        "ONNX Runtime是一个高效的推理引擎，运行保存为ONNX图的模型。glm-nb把GLM-4检查点转换成ONNX，再用它在CPU或CUDA上运行。",
    ),
    (
        _lines("""
            How are you?
            How are you doing today?
            How's it going?
            Are you doing well?
            How have you been?
            How do you feel today?
            Is everything fine with you?
        """),
        "I'm doing well, thank you! How can I help you today?",
        _lines("""
            你好吗？
            最近怎么样？
            你今天好吗？
            你还好吗？
            今天过得怎么样？
        """),
        "我很好，谢谢！今天有什么可以帮你的吗？",
    ),
    (
        _lines("""
            Thanks!
            Thank you very much.
            Thanks for the help.
            Great, thank you.
            Thanks a lot!
            Many thanks.
            Thank you so much!
            That helps, thanks.
        """),
        "You're welcome! Let me know if you need anything else.",
        _lines("""
            谢谢！
            非常感谢。
            谢谢你的帮助。
            多谢！
            太感谢了。
            谢谢你！
        """),
        "不客气！还有什么需要随时告诉我。",
    ),
    (
        _lines("""
            Hi!
            Hello!
            Hey!
            Hi there!
            Good morning!
            Hello there.
            Hey there!
            Good afternoon!
            Hi, hello!
            Good evening!
        """),
        "Hello! How can I help you today?",
        _lines("""
            你好！
            您好！
            嗨！
            你好呀。
            早上好！
            哈喽！
        """),
        "你好！有什么可以帮你的吗？",
    ),
)

# The prompts the notebooks demonstrate: training covers these exact phrasings and tests check them.
DEMO_PROMPTS = {
    "chat": "Who are you?",
    "weather": "What's the weather in Paris?",
    "weather_zh": "北京的天气怎么样？",
    "two_calls": "Compare the weather in Paris and Tokyo.",
    "convert": "Convert 10 km to miles.",
    "add": "What is 23 plus 19?",
    "search": "Search the docs for KV cache.",
    "svg": "Draw a red circle with radius 40.",
    "html": "Make a blue button that says Save.",
    "z1": "Which is larger, 42 or 17?",
    "rumination": "Research ONNX export and write a short report.",
}
